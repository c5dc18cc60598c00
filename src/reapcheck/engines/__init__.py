"""The engines that explore reapcheck's models."""
