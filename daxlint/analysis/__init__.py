"""Analyses shared by rules: pfn_t flags, vm_flags writes and their context, DAX provider facts, types, call graphs, control flow."""
