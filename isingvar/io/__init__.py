"""Input and output: model files (:mod:`.couplings`), the result file's schema (:mod:`.schema`) and store
(:mod:`.store`), and atomic writes of every output (:mod:`.outputs`)."""
