"""Stand-in for ROS 2 cv_bridge (no wheel): the one call the localizer makes, on real sensor_msgs/Image."""
from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import Image


class CvBridge:
    def cv2_to_imgmsg(self, cvim: np.ndarray, encoding: str = "passthrough", header: Any = None) -> Image:
        image = np.ascontiguousarray(cvim)
        height, width = image.shape[:2]
        msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0,
                    step=width * image.itemsize * (1 if image.ndim == 2 else image.shape[2]), data=image.tobytes())
        if header is not None:
            msg.header = header
        return msg
