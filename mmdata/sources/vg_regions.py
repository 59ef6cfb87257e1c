"""Visual Genome region descriptions: ``region_descriptions.json`` + ``image_data.json``.

One Record per region, images and regions in file order. The image path is the last two components
of the image's ``url`` (``VG_100K/1.jpg``, ``VG_100K_2/…``), relative to the image root; image sizes
come from ``image_data.json``. Visual Genome has many boxes that stick out of the image: they are
clipped, and a box with no area inside the image is an error. Everything is ``train``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.sources import jsonstream
from mmdata.sources.base import Adapter, ImageResolver, box_xywh_to_norm, need, need_list_of
from mmdata.sources.common import need_dim, need_obj
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register


def url_image_path(url: str) -> str | None:
    """``https://…/VG_100K/1.jpg`` → ``VG_100K/1.jpg``; None when the URL has no two components."""
    parts = url.split("/")
    if len(parts) < 2 or not parts[-1] or not parts[-2]:
        return None
    return f"{parts[-2]}/{parts[-1]}"


class VGRegions(Adapter):
    name = "vg_regions"
    task = "rec"
    description = "Visual Genome region descriptions (phrase + box), boxes clipped to the image."
    layout = "region_descriptions.json + image_data.json; images/VG_100K*/<id>.jpg"
    accepts = (
        "region_descriptions.json + image_data.json, Visual Genome 1.0 (image key 'id') and 1.2 ('image_id')",
        "images: VG_100K/ and VG_100K_2/ folders as named in image_data.json urls",
    )

    def files(self, path: Path) -> list[Path]:
        if not path.is_dir():
            raise MmdataError("vg_regions: expected a directory holding region_descriptions.json and image_data.json", file=path)
        return [self.need_file(path, "region_descriptions.json"), self.need_file(path, "image_data.json")]

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        reg_f, img_f = self.files(path)
        info: dict[int, tuple[str, int, int]] = {}
        for i, im in enumerate(jsonstream.items(img_f, None, what="images")):
            need_obj(im, file=img_f, record=f"#{i}")
            key = "id" if "image_id" not in im and "id" in im else "image_id"  # VG 1.0 says id, 1.2 image_id
            iid = need(im, key, int, file=img_f, record=f"#{i}")
            rid = f"image_id={iid}"
            url = need(im, "url", str, file=img_f, record=rid)
            rel = url_image_path(url)
            if rel is None:
                raise MmdataError(f"url {url[:200]!r} does not end in <folder>/<file>", file=img_f, record=rid, field="url")
            info[iid] = (rel, need_dim(im, "width", file=img_f, record=rid), need_dim(im, "height", file=img_f, record=rid))

        for i, entry in enumerate(jsonstream.items(reg_f, None, what="images with regions")):
            need_obj(entry, file=reg_f, record=f"#{i}")
            for j, reg in enumerate(need_list_of(entry, "regions", dict, file=reg_f, record=f"#{i}")):
                region_id = need(reg, "region_id", int, file=reg_f, record=f"#{i} regions[{j}]")
                rid = f"region_id={region_id}"
                image_id = need(reg, "image_id", int, file=reg_f, record=rid)
                phrase = need(reg, "phrase", str, file=reg_f, record=rid)
                box = [need(reg, k, (int, float), file=reg_f, record=rid) for k in ("x", "y", "width", "height")]
                if image_id not in info:
                    raise MmdataError(f"image {image_id} is not in {img_f.name}", file=reg_f, record=rid, field="image_id")
                rel, width, height = info[image_id]
                yield self.record(
                    _file=reg_f,
                    record_id=str(region_id),
                    image_id=str(image_id),
                    image=image_request(rel, width, height),
                    bbox=box_xywh_to_norm(box, width, height, file=reg_f, record=rid, field="x/y/width/height", clip=True),
                    phrase=phrase,
                )


register(VGRegions())
