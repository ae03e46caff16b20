"""Special work permits (特殊作业票) per GB 30871-2022 (issue 7)."""
