"""Issue 11 item 2: Faster R-CNN keeps its anchors as plain tensor attributes; the audit leaves them
(and the whole model) as they were, and the model still runs with the same output."""
from __future__ import annotations

import pytest
import torch

from model_audit import audit
from test_untouched import assert_same, snapshot

torchvision = pytest.importorskip("torchvision")


@pytest.mark.slow
def test_faster_rcnn_audits_and_still_runs() -> None:
    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None,
                                                                                weights_backbone=None).eval()
    image = torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model([image])
    anchors = model.rpn.anchor_generator.cell_anchors
    before = snapshot(model, image)
    report = audit(model, ([image],))
    assert report.params == sum(p.numel() for p in model.parameters())
    assert_same(before, snapshot(model, image))
    assert model.rpn.anchor_generator.cell_anchors is anchors and all(a.device.type == "cpu" for a in anchors)
    with torch.no_grad():
        again = model([image])
    assert torch.equal(again[0]["boxes"], expected[0]["boxes"])
