"""Kconfig and kbuild Makefile parsing: symbols, their dependencies, the tree-wide symbol index."""
