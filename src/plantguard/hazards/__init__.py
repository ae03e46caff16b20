"""Hazards (隐患): reporting, grading (一般/重大) against the criteria lists, and the closed loop
排查 → 登记 → 评估 → 治理 → 验收 → 销号."""
