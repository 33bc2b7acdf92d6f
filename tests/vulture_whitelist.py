"""Names vulture cannot see used (tests/test_project_health.py adds every
rule class: the registry finds them by inspection)."""

from daxlint.cli import _LazyGroup
from daxlint.commands.kbuild import _CompilerCommandLine
from daxlint.core.rule import DOC_HEADINGS

DOC_HEADINGS  # the rule-doc contract, checked for every rule by tests/test_rule_docs.py
# click calls these overrides of its Group/Command methods
_LazyGroup.list_commands
_LazyGroup.get_command
_CompilerCommandLine.parse_args
