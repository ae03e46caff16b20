"""PlantGuard: safety-production management for manufacturers (安全生产管理系统)."""

__version__ = "0.1.0"
