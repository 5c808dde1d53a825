package stack

// PinsHeld returns how many packet chunks h's forwardGuard holds.
func PinsHeld(h *Host) int { return int(h.guard.n.Load()) }
