"""`tlspec explain`: what the compiler chose for each kernel of a spec and what it costs.

collect (the passes' records and the cubin), occupancy (blocks per SM), traffic (bytes per
launch, roofline), report (one kernel as data), render (as text), command (the CLI's work)."""
