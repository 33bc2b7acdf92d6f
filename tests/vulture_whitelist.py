"""Names vulture cannot see used (tests/test_project_health.py adds every
rule class: the registry finds them by inspection)."""

from daxlint.core.rule import DOC_HEADINGS

DOC_HEADINGS  # the rule-doc contract, checked for every rule by tests/test_rule_docs.py
