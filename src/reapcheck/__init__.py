"""reapcheck: a model checker for the OOM reaper's VMA walk order against exit_mmap()."""

__version__ = "0.1.0"
