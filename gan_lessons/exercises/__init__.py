"""Automatic checks for the book's coding exercises.

Each ``check_*`` function runs a student's function on fixed inputs and edge cases, compares it with the
reference implementation, and prints ``passed`` or a specific hint (which input, what was expected, what
came back). It never raises an assertion traceback at the student, and it cannot be passed by returning a
constant (the cases differ) or by calling the reference (the reference is blocked during the check).
"""
from ._core import CheckResult, Case, check_function
from .minimax import check_modified_generator_loss, check_value_function
from .fid import check_frechet_distance, check_mmd2_unbiased
from .dcgan import check_feature_matching_loss, check_interpolate
from .hinge import check_hinge_discriminator_loss, check_power_iteration
from .collapse import check_minibatch_stddev, check_reverse_kl_to_uniform
from .theory import check_js_divergence, check_kl_gaussians, check_optimal_discriminator
from .wgan import check_critic_loss, check_gradient_penalty
from .scaling import check_global_variance

__all__ = ["CheckResult", "Case", "check_function", "check_modified_generator_loss", "check_value_function"]
__all__ += ["check_frechet_distance", "check_mmd2_unbiased"]
__all__ += ["check_feature_matching_loss", "check_interpolate"]
__all__ += ["check_hinge_discriminator_loss", "check_power_iteration"]
__all__ += ["check_minibatch_stddev", "check_reverse_kl_to_uniform"]
__all__ += ["check_js_divergence", "check_kl_gaussians", "check_optimal_discriminator"]
__all__ += ["check_critic_loss", "check_gradient_penalty"]
__all__ += ["check_global_variance"]
