def clamp_grad(grad, bound=1.0):
    return grad.clamp(-bound, bound)
