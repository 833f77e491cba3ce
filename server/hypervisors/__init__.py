"""Hypervisor drivers behind one interface: the simulator (default) and KVM (through the agent)."""
