"""tlspec's lowering passes, one module each; `..pipeline` runs them in order."""
