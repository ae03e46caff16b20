"""The alarm lifecycle (报警管理): what happens to the conditions detection reports.

Detection sends :class:`~plantguard.detection.signals.ConditionSignal` objects to
:class:`~plantguard.detection.alarms.intake.AlarmIntake`; people acknowledge, clear, comment and
silence through :mod:`~plantguard.detection.alarms.service`; a periodic ``tick`` applies the
time rules (auto-clear, escalation, downgrade, unacknowledged escalation) and the no-data /
offline watchdog. See ``docs/alarms.md``.
"""
