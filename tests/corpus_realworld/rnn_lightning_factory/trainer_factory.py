import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping


def make_trainer(cfg):
    return pl.Trainer(max_epochs=cfg["epochs"], gradient_clip_val=cfg.get("clip", 0.5),
                      callbacks=[EarlyStopping(monitor="val_loss")])
