"""What the plugin answers: one module per question (parameters, JSON, line, variables)."""
