"""Risk grading and control (风险分级管控): the risk register, assessment methods (LEC, risk
matrix) as versioned configuration, control measures and the four-colour map."""
