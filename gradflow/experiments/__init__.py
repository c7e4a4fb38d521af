"""Small experiments from the course's lectures: implicit regularisation of gradient descent,
the bias–variance decomposition, and loss landscapes."""
