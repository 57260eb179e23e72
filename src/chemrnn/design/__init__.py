"""The de-novo design cycle (Segler et al. 2018): a language model steered by a scoring function — Segler's
sample/score/fine-tune cycle, GuacaMol's hill-climber, REINVENT-style reinforcement learning with a diversity
filter — with every scored molecule recorded and runs resumable."""
from .diversity import DiversityFilter
from .optimizers import OPTIMIZERS
from .config import DesignConfig, read_config
from .guacamol import GoalDirectedGenerator
from .run import DesignRun, run_design

__all__ = ["OPTIMIZERS", "DesignConfig", "DesignRun", "DiversityFilter", "GoalDirectedGenerator", "read_config",
           "run_design"]
