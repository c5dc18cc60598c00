"""Named properties checked over reapcheck's models (installed as reapcheck.properties)."""
