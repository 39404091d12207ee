from .grads import clip_by_global_norm


def apply_update(model, optimizer, loss, max_norm=1.0):
    optimizer.zero_grad()
    loss.backward()
    clip_by_global_norm(list(model.parameters()), max_norm)
    optimizer.step()
