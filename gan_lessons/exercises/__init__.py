"""Automatic checks for the book's coding exercises.

Each ``check_*`` function runs a student's function on fixed inputs and edge cases and compares it with the
reference implementation. When every case passes it prints ``passed - ...`` once and returns a true
:class:`CheckResult`. Otherwise it raises :class:`CheckFailed` (an ``AssertionError``) whose message is a
specific hint (which input, what was expected, what came back): nbgrader and test runners count the cell as
failed, and Jupyter shows the one line ``not yet - <hint>`` instead of a traceback. A check cannot be passed by
returning a constant (the cases differ) or by calling the reference (it is blocked during the check);
``spec_of(check)`` gives its cases and reference, which ``python -m gan_lessons grade`` uses to compare outside
the student's kernel.
"""
from ._core import CheckFailed, CheckResult, CheckSpec, Case, check_function, spec_of
from .minimax import check_modified_generator_loss, check_total_variation, check_value_function
from .fid import check_frechet_distance, check_mmd2_unbiased
from .dcgan import check_early_stopping, check_feature_matching_loss, check_interpolate
from .hinge import check_hinge_discriminator_loss, check_power_iteration
from .collapse import check_minibatch_features, check_minibatch_stddev, check_reverse_kl_to_uniform
from .theory import (check_generator_penalty, check_js_distance_gap, check_js_divergence, check_kl_gaussians,
                     check_optimal_discriminator)
from .wgan import check_critic_loss, check_gradient_penalty, check_rmsprop_path
from .scaling import check_global_variance
from .encoders import check_matched_accuracy, check_reparameterise
from .image_to_image import check_psnr, check_receptive_field

__all__ = ["CheckFailed", "CheckResult", "CheckSpec", "Case", "check_function", "spec_of", "check_modified_generator_loss", "check_value_function"]
__all__ += ["check_total_variation"]
__all__ += ["check_frechet_distance", "check_mmd2_unbiased"]
__all__ += ["check_feature_matching_loss", "check_interpolate", "check_early_stopping"]
__all__ += ["check_hinge_discriminator_loss", "check_power_iteration"]
__all__ += ["check_minibatch_stddev", "check_reverse_kl_to_uniform", "check_minibatch_features"]
__all__ += ["check_js_divergence", "check_kl_gaussians", "check_optimal_discriminator"]
__all__ += ["check_generator_penalty", "check_js_distance_gap"]
__all__ += ["check_critic_loss", "check_gradient_penalty", "check_rmsprop_path"]
__all__ += ["check_global_variance"]
__all__ += ["check_matched_accuracy", "check_reparameterise"]
__all__ += ["check_psnr", "check_receptive_field"]
