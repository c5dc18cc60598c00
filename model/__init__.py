"""The models reapcheck checks (installed as reapcheck.model)."""
