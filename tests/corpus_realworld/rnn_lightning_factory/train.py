import pytorch_lightning as pl

from model import model
from trainer_factory import make_trainer


class LitForecaster(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = model

    def training_step(self, batch, batch_idx):
        x, y = batch
        return ((self.net(x) - y) ** 2).mean()


if __name__ == "__main__":
    trainer = make_trainer({"epochs": 20})
    trainer.fit(LitForecaster())
