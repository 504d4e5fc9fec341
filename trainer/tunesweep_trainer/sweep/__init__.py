"""The sweep driver: a frozen plan in, a Ray Tune experiment run (or resumed), evidence, a promotion
and a report out. `tunesweep drive` (the RayJob entrypoint) and `tunesweep run` (local mode) both
go through `driver.drive`.
"""
