"""The experience-memory repair agent: resolves an issue inside its instance's container (reproduce → localize
→ patch → select) through text actions, with what it recalls from earlier attempts, and writes SWE-bench
predictions that our harness grades like anyone else's."""
