import torch
from accelerate import Accelerator

import engine
from model import model

accelerator = Accelerator()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
model, optimizer = accelerator.prepare(model, optimizer)
for mfcc, label in []:
    loss = torch.nn.functional.cross_entropy(model(mfcc), label)
    engine.backward_step(accelerator, model, optimizer, loss)
