"""PTR Trial API: the data backbone of the sequential CD19/BCMA CAR-T trial for alloimmune
platelet transfusion refractoriness. Layers run one way: schema -> services -> db -> domain."""
