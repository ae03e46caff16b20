"""Work orders (工单): alarms and findings become routed, tracked, accepted work."""
