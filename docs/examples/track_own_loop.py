"""Your own training loop, tracked on a winoprune service: every epoch's metrics and per-layer
Winograd statistics land in an external run (README: "Results from anywhere").

Server, token and project come from WINOPRUNE_SERVER, WINOPRUNE_TOKEN, WINOPRUNE_PROJECT (or
~/.config/winoprune/config.toml), as for `winoprune submit`.
"""

from dataclasses import asdict

import torch
from torch import nn

from winoprune.cli.tracker import Tracker
from winoprune.data import build_datasets
from winoprune.models import build_model
from winoprune.pruning.metrics import layer_stats, summary
from winoprune.training.loop import evaluate, make_loader
from winoprune.winograd.layers import convert_model

train, test, _ = build_datasets({"name": "digits"})
model = build_model("digits-cnn")
convert_model(model)  # 3x3 convs -> Winograd-domain layers, F(4,3)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
batches = make_loader(train, 64, shuffle=True, seed=0)

with Tracker.start(
    name="own-loop", description="plain SGD, digits-cnn in the Winograd domain"
) as run:
    for epoch in range(1, 3):
        model.train()
        for images, labels in batches:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
        metrics = evaluate(
            model, make_loader(test, 256, shuffle=False, seed=0), torch.device("cpu")
        )
        layers = layer_stats(model, model.input_shape)
        winograd = [row.layer for row in layers if row.domain == "winograd"]
        metrics |= asdict(summary(layers, winograd))  # winograd_sparsity, multiplications
        run.log_epoch(stage=0, epoch=epoch, metrics=metrics, layers=layers)
    print(f"tracked as run {run.run_id}")
