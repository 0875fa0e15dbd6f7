"""The fault suite (`make faults`): the production processes on loopback, one fault at a time.

See bench/faults/suite.py for the cases and docs/faults.md for what each one proves.
"""
