"""Readers of the published RobotCar Seasons and Extended CMU Seasons layouts."""
from .cmu_seasons import read_cmu_seasons, read_cmu_slice
from .common import BenchmarkSplit, Query
from .robotcar_seasons import read_robotcar_seasons

__all__ = ["BenchmarkSplit", "Query", "read_cmu_seasons", "read_cmu_slice", "read_robotcar_seasons"]
