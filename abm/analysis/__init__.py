"""Analysis over written runs.

The log SQL, reports, batch comparisons and sensitivity, calibration
targets, validation and calibration.
"""
