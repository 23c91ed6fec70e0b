"""Rules beside the model: rule files, a run's rule book by event time, its rules topic.

A stage below the engine: the engine's fold (:mod:`engine.bucket_fold`) decides each scored
transaction with a :class:`~rulebook.rules.RuleBook`, and the lab publishes a run's starting
rules, so the rules are imported from here and the engine holds the Spark job alone. Rules name
the model's features (:data:`features.definition.FEATURES`), so this package reads ``features``
and the kernel, nothing else.

- :mod:`rulebook.rules`: the rule model (pure): rules and their CEL conditions, rule files,
  :class:`~rulebook.rules.RuleChange` and the :class:`~rulebook.rules.RuleBook` that decides a
  transaction by the rules in force at its event time;
- :mod:`rulebook.topics`: a run's rules topic (changes published and read back) and the default
  rule book new runs start from.

:mod:`rulebook.commands` adds ``rules check|add|disable|list`` to the CLI.
"""
