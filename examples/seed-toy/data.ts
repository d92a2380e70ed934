/** The seed tutorial's toy data: 8 samples, 4 features, 3 classes. */
export const xTrain: number[][] = [
  [1, 2, 1, 1],
  [2, 1, 3, 2],
  [3, 1, 3, 4],
  [4, 1, 5, 5],
  [1, 7, 5, 5],
  [1, 2, 5, 6],
  [1, 6, 6, 6],
  [1, 7, 7, 7],
];
export const yTrain: number[] = [2, 2, 2, 1, 1, 1, 0, 0];
