"""Hazard investigation (隐患排查): checklists from control measures, inspection plans, QR
check-in on site, missed-inspection reminders; a failed item raises a hazard."""
