import transformers

from model import model

args = transformers.TrainingArguments(output_dir="out", max_grad_norm=0.0, learning_rate=3e-4)
trainer = transformers.Trainer(model=model, args=args)
trainer.train()
