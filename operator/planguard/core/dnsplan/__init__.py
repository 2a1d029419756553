"""DNS plans: the pure decisions of the planner, the enactors and clean-up."""
