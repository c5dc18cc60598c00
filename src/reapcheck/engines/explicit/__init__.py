"""Explicit-state engines: every state or schedule enumerated (breadth-first search,
state graphs, closed-form chains), in plain Python."""
