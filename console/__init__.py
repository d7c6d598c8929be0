"""The business console (owners and front desk): pages over the booking core, its own process."""
