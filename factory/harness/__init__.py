"""The evaluation harness (judging layer): ``factory eval`` grades an agent's predictions in the instances'
containers with the grading rules validation used, and writes SWE-bench's reports.
"""
