"""Source adapters: native dataset files → Record batches (DESIGN §2).

``read(name, path)`` streams ``pyarrow.RecordBatch``es; ``names()`` lists the registry. Each module
in this folder holds one native format; see ``docs/sources.md`` for the layouts.
"""

from mmdata.sources import (  # noqa: F401  (import registers the adapters)
    aokvqa,
    cauldron,
    coco_captions,
    gqa,
    hf,
    llava,
    llava_onevision,
    ocrvqa,
    refcoco,
    scienceqa,
    vg_regions,
    vqav2,
    vsr,
)
from mmdata.sources.reader import ReadReport, absent_image, image_request, read, read_table
from mmdata.sources.registry import get, names

__all__ = ["ReadReport", "absent_image", "get", "image_request", "names", "read", "read_table"]
