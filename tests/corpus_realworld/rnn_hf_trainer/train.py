from datasets import load_dataset
from transformers import Trainer, TrainingArguments

from model import model

args = TrainingArguments(output_dir="out", learning_rate=3e-4, num_train_epochs=3,
                         per_device_train_batch_size=32, weight_decay=0.01)
trainer = Trainer(model=model, args=args, train_dataset=load_dataset("conll2003")["train"])
trainer.train()
