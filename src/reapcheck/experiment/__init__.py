"""`reapcheck experiment`: race process_mrelease() against exit_mmap() on the running kernel.

plan.py turns a layout into the victim's mappings; victim_script.py is the child that maps
them; tracefs.py owns a private tracefs instance; race.py kills and releases; trace_parse.py
classifies the recorded lock contention; run.py puts it together with the model's bound.
"""
