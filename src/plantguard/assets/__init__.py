"""Assets: the equipment ledger (设备台账) and its measurement points."""
